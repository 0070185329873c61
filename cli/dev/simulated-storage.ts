// Storage for the simulated cluster. There is no volume provisioner (and kwok mounts nothing),
// so claims would stay Pending and the scheduler would never place a pod that uses one: a
// training job's checkpoint claim, a served model's cache. A default StorageClass with static
// volumes lets the controller-manager bind claims as a real cluster's provisioner would.
import type { KubeObject } from "../../operator/index.ts";

export const devStorageClass = "dev-local";

export interface SimulatedStorage {
  volumes: number;
  /** Size of each volume: a claim takes a whole volume of at least its size. */
  size: string;
}

export const defaultStorage: SimulatedStorage = { volumes: 16, size: "2Ti" };

export function simulatedStorage(storage: SimulatedStorage = defaultStorage): KubeObject[] {
  const storageClass: KubeObject = {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: {
      name: devStorageClass,
      annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
    },
    provisioner: "kubernetes.io/no-provisioner",
    volumeBindingMode: "Immediate",
    reclaimPolicy: "Retain",
  };
  const volumes: KubeObject[] = Array.from({ length: storage.volumes }, (_, i) => ({
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name: `dev-volume-${i}` },
    spec: {
      storageClassName: devStorageClass,
      capacity: { storage: storage.size },
      accessModes: ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"],
      // Never mounted: kwok runs no containers.
      hostPath: { path: `/var/lib/sovereign-dev/volume-${i}` },
      persistentVolumeReclaimPolicy: "Retain",
    },
  }));
  return [storageClass, ...volumes];
}
