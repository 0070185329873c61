// The console's shell: navigation, the connection banner, the theme toggle and the keyboard
// shortcuts; one page at a time from the location's hash (#/pools, #/queue, ...).
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { PoolsPage } from "./pages/pools.tsx";
import { QueuePage } from "./pages/queue.tsx";
import { ServingPage } from "./pages/serving.tsx";
import { WorkloadsPage } from "./pages/workloads.tsx";
import { connect, useStore } from "./store.ts";

const pages = [
  { path: "pools", title: "Pools", key: "1" },
  { path: "queue", title: "Queue", key: "2" },
  { path: "workloads", title: "Workloads", key: "3" },
  { path: "serving", title: "Serving", key: "4" },
] as const;
type PagePath = (typeof pages)[number]["path"];

function route(): { page: PagePath; rest: string } {
  const [page, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const known = pages.find((p) => p.path === page);
  return { page: known?.path ?? "pools", rest: decodeURIComponent(rest.join("/")) };
}

function useRoute() {
  const [r, setR] = useState(route);
  useEffect(() => {
    const on = () => setR(route());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return r;
}

type Theme = "auto" | "light" | "dark";
function applyTheme(t: Theme): void {
  if (t === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
}

function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem("console-theme") as Theme) || "auto");
  useEffect(() => {
    applyTheme(theme);
    localStorage.setItem("console-theme", theme);
  }, [theme]);
  const next: Record<Theme, Theme> = { auto: "light", light: "dark", dark: "auto" };
  return (
    <button type="button" onClick={() => setTheme(next[theme])} aria-label={`Theme: ${theme}; switch to ${next[theme]}`}>
      Theme: {theme}
    </button>
  );
}

function Banner() {
  const s = useStore();
  if (s.stream === "lost")
    return (
      <div class="banner" role="alert" data-testid="banner">
        Lost the connection to the console's server; reconnecting…
      </div>
    );
  if (s.cluster && !s.cluster.connected)
    return (
      <div class="banner reconnecting" role="alert" data-testid="banner">
        Cluster unavailable: {s.cluster.message ?? "reconnecting"}. What you see may be out of date.
      </div>
    );
  return null;
}

function App() {
  const { page, rest } = useRoute();
  const s = useStore();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (e.ctrlKey || e.metaKey || e.altKey || t.closest("input, select, textarea")) return;
      const p = pages.find((x) => x.key === e.key);
      if (p) {
        location.hash = `#/${p.path}`;
        document.getElementById("main")?.focus();
      } else if (e.key === "/") {
        const filter = document.querySelector<HTMLInputElement>("input[type=search]");
        if (filter) {
          e.preventDefault();
          filter.focus();
        }
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);
  const title = pages.find((p) => p.path === page)?.title ?? "";
  useEffect(() => {
    document.title = `${title} · Sovereign Stack console`;
  }, [title]);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <header>
        <h1>Sovereign Stack</h1>
        <nav aria-label="Pages">
          <ul>
            {pages.map((p) => (
              <li key={p.path}>
                <a href={`#/${p.path}`} aria-current={p.path === page ? "page" : undefined} aria-keyshortcuts={p.key}>
                  {p.title} <kbd aria-hidden="true">{p.key}</kbd>
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="spacer" />
        <span class="muted">{s.cluster?.server}</span>
        <ThemeToggle />
      </header>
      <Banner />
      <main id="main" tabIndex={-1} aria-label={title}>
        {!s.hasSnapshot ? (
          <p aria-live="polite">Waiting for the cluster…</p>
        ) : page === "pools" ? (
          <PoolsPage />
        ) : page === "queue" ? (
          <QueuePage />
        ) : page === "workloads" ? (
          <WorkloadsPage selected={rest} />
        ) : (
          <ServingPage />
        )}
      </main>
    </>
  );
}

connect();
const root = document.getElementById("app") as HTMLElement;
root.textContent = "";
render(<App />, root);
