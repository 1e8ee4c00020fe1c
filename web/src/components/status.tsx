/** Status badges with the same words and colours everywhere. */
import type { JobPhase, JobState, SessionState, Vehicle } from '../api/types';
import { Badge, type Tone } from './ui';

export function VehicleStatus({ vehicle }: { vehicle: Pick<Vehicle, 'online' | 'reachable'> }) {
  if (vehicle.online) return <Badge tone="ok">Online</Badge>;
  return <Badge tone="neutral">Offline</Badge>;
}

const SESSION: Record<SessionState, { tone: Tone; text: string; title: string }> = {
  established: { tone: 'ok', text: 'Established', title: 'end-to-end secure channel established: diagnostics can reach the vehicle' },
  handshaking: { tone: 'warn', text: 'Handshaking', title: 'the secure-channel handshake is in progress' },
  none: { tone: 'neutral', text: 'None', title: 'no secure channel with this manager' },
};

export function SessionBadge({ session }: { session: SessionState }) {
  const s = SESSION[session] ?? SESSION.none;
  return (
    <Badge tone={s.tone} title={s.title}>
      {s.text}
    </Badge>
  );
}

export function EcuMode({ mode }: { mode: string }) {
  const tone: Tone = mode === 'application' ? 'info' : mode === 'bootloader' ? 'warn' : 'neutral';
  return (
    <Badge tone={tone} title={`ECU runs its ${mode}`}>
      {mode}
    </Badge>
  );
}

const STATE_TONE: Record<JobState, Tone> = { active: 'info', done: 'ok', failed: 'bad', cancelled: 'neutral' };

export function JobStateBadge({ state }: { state: JobState }) {
  return <Badge tone={STATE_TONE[state] ?? 'neutral'}>{state}</Badge>;
}

/** The order of a job's phases, for the step display. */
export const JOB_PHASES: readonly JobPhase[] = ['queued', 'downloading', 'verifying', 'erasing', 'programming', 'checking', 'rebooting', 'done'];
