/**
 * The console's history of this browser session's requests, per vehicle, newest first: kept in
 * sessionStorage so a reload or a detour through another view keeps it, capped at MAX entries.
 */
import { useSyncExternalStore } from 'react';
import type { DiagResult } from '../api/types';

export interface HistoryEntry {
  seq: number;
  /** When it was sent (ms since epoch). */
  at: number;
  ecu: string;
  /** Request hex without spaces. */
  request: string;
  /** The quick action's label, or undefined for a raw request. */
  label: string | undefined;
  result?: DiagResult;
  /** The API refused or failed (not a UDS answer). */
  error?: { status: number; code: string; message: string };
}

const KEY = 'ota.consoleHistory';
const MAX = 100;
const EMPTY: readonly HistoryEntry[] = [];

function load(): Record<string, HistoryEntry[]> {
  try {
    const raw = sessionStorage.getItem(KEY);
    const parsed: unknown = raw === null ? {} : JSON.parse(raw);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, HistoryEntry[]>) : {};
  } catch {
    return {};
  }
}

let byVehicle = load();
let seq = Math.max(0, ...Object.values(byVehicle).flatMap((l) => l.map((e) => e.seq)));
const listeners = new Set<() => void>();

function save(): void {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(byVehicle));
  } catch {
    // Full or disabled storage: the history still lives in memory for this page.
  }
  for (const l of listeners) l();
}

/** Record a request about to be sent; returns its sequence number for `completeHistory`. */
export function addHistory(vehicleId: string, entry: Omit<HistoryEntry, 'seq'>): number {
  const e = { ...entry, seq: ++seq };
  byVehicle = { ...byVehicle, [vehicleId]: [e, ...(byVehicle[vehicleId] ?? [])].slice(0, MAX) };
  save();
  return e.seq;
}

/** Attach the answer (or the failure) to entry `n`. */
export function completeHistory(vehicleId: string, n: number, outcome: Pick<HistoryEntry, 'result' | 'error'>): void {
  const list = byVehicle[vehicleId];
  if (list === undefined) return;
  byVehicle = { ...byVehicle, [vehicleId]: list.map((e) => (e.seq === n ? { ...e, ...outcome } : e)) };
  save();
}

export function clearHistory(vehicleId: string): void {
  const { [vehicleId]: _gone, ...rest } = byVehicle;
  byVehicle = rest;
  save();
}

/** This vehicle's history, newest first. */
export function useHistory(vehicleId: string): readonly HistoryEntry[] {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => byVehicle[vehicleId] ?? EMPTY,
  );
}
