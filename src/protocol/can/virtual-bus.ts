/**
 * An in-process CAN bus: nodes attach and each gets a `CanInterface`. A frame sent by one node is
 * delivered to every other attached node; frames go on the bus one at a time in send order (our
 * arbitration model). With a timing model the frame occupies the bus for its exact bit time
 * (ISO 11898-1 frame format incl. stuff bits, see `canFrameTimeMs`) on the injected clock; without
 * one, frames are delivered on the next microtask.
 */
import { systemClock, type Clock } from '../clock.js';
import { OtaError } from '../errors.js';
import { assertValidCanFrame, type CanFrame, type CanInterface } from './frame.js';
import { canFrameTimeMs, type CanBitTiming } from './timing.js';

export interface VirtualCanBusOptions {
  /** Default `systemClock`. Timing is exact on a `FakeClock`; Node's real timers round up to 1 ms. */
  clock?: Clock;
  /** Bus timing model (bit rates, stuffing); omit or `false` for instant delivery. */
  timing?: CanBitTiming | false;
}

/** One attached node: its `CanInterface` plus a name (for traces) and `detach()`. */
export interface CanNode extends CanInterface {
  readonly name: string;
  /** Leaves the bus: stops delivery to this node and rejects its queued frames with `CAN_DETACHED`. */
  detach(): void;
}

/** A frame as it completed on the bus. */
export interface CanTraceEntry {
  /** Clock time at the end of the frame (the end of its intermission with the timing model). */
  time: number;
  /** Name of the sending node. */
  from: string;
  frame: CanFrame;
  /** Bus time of the frame in ms (0 without the timing model). */
  durationMs: number;
}

interface Pending {
  node: NodeState;
  frame: CanFrame;
  resolve: () => void;
  reject: (e: unknown) => void;
}

interface NodeState {
  name: string;
  attached: boolean;
  listeners: Set<(frame: CanFrame) => void>;
}

/** Raises a listener's exception outside the bus loop, so one faulty node cannot stall the bus. */
function rethrowLater(e: unknown): void {
  queueMicrotask(() => {
    throw e;
  });
}

export class VirtualCanBus {
  private readonly clock: Clock;
  private readonly timing: CanBitTiming | false;
  private readonly nodes = new Set<NodeState>();
  private readonly queue: Pending[] = [];
  private readonly tracers = new Set<(entry: CanTraceEntry) => void>();
  private busy = false;
  /** Clock time at which the bus becomes idle (timing model), so timer rounding does not accumulate. */
  private busFreeAt = -Infinity;
  /** Set from a frame's completion until the current macrotask ends: see `startNext`. */
  private reacting = false;
  /** Clock time of the last completion. */
  private completedAt = -Infinity;
  private frameCount = 0;
  private busTime = 0;
  private nodeCounter = 0;

  constructor(options: VirtualCanBusOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.timing = options.timing ?? false;
  }

  /** Attaches a new node; `name` appears in traces (default `node<n>`). */
  attach(name?: string): CanNode {
    const state: NodeState = { name: name ?? `node${++this.nodeCounter}`, attached: true, listeners: new Set() };
    this.nodes.add(state);
    return {
      name: state.name,
      send: (frame) => this.enqueue(state, frame),
      onFrame: (listener) => {
        state.listeners.add(listener);
        return () => {
          state.listeners.delete(listener);
        };
      },
      detach: () => this.detach(state),
    };
  }

  /** Calls `listener` for every frame completed on the bus (a bus monitor); returns unsubscribe. */
  onTrace(listener: (entry: CanTraceEntry) => void): () => void {
    this.tracers.add(listener);
    return () => {
      this.tracers.delete(listener);
    };
  }

  /** Frames completed so far and the bus time they used (ms), for bus-load figures. */
  get stats(): { frames: number; busTimeMs: number } {
    return { frames: this.frameCount, busTimeMs: this.busTime };
  }

  private enqueue(node: NodeState, frame: CanFrame): Promise<void> {
    if (!node.attached) return Promise.reject(new OtaError('CAN_DETACHED', `node ${node.name} is not attached`));
    try {
      assertValidCanFrame(frame);
    } catch (e) {
      return Promise.reject(e);
    }
    // The frame leaves the sender's buffer now: later changes to `frame.data` must not reach the wire.
    const copy: CanFrame = { id: frame.id, data: Uint8Array.from(frame.data) };
    if (frame.fd) copy.fd = true;
    if (frame.extended) copy.extended = true;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ node, frame: copy, resolve, reject });
      if (!this.busy) this.startNext();
    });
  }

  private startNext(): void {
    const wasBusy = this.busy;
    const next = this.queue.shift();
    if (next === undefined) {
      this.busy = false;
      return;
    }
    this.busy = true;
    if (this.timing === false) {
      queueMicrotask(() => this.complete(next, 0));
      return;
    }
    const durationMs = canFrameTimeMs(next.frame, this.timing);
    const now = this.clock.now();
    // A frame queued while another was on the bus, or in direct reaction to a completion (before any
    // timer or I/O ran), starts when the previous one ended on the model's time line, even if a coarse
    // timer (Node: ≥ 1 ms) fired late: the modelled throughput holds on the real clock.
    const backToBack = wasBusy || (this.reacting && now - this.completedAt < 1);
    const start = backToBack ? this.busFreeAt : Math.max(now, this.busFreeAt);
    this.busFreeAt = start + durationMs;
    const delay = this.busFreeAt - now;
    if (delay <= 0) queueMicrotask(() => this.complete(next, durationMs));
    else this.clock.setTimeout(() => this.complete(next, durationMs), delay);
  }

  private complete(entry: Pending, durationMs: number): void {
    this.frameCount++;
    this.busTime += durationMs;
    if (entry.node.attached) {
      for (const node of [...this.nodes]) {
        if (node === entry.node) continue;
        for (const listener of [...node.listeners]) {
          try {
            listener(entry.frame);
          } catch (e) {
            rethrowLater(e);
          }
        }
      }
      const trace: CanTraceEntry = { time: this.clock.now(), from: entry.node.name, frame: entry.frame, durationMs };
      for (const tracer of [...this.tracers]) {
        try {
          tracer(trace);
        } catch (e) {
          rethrowLater(e);
        }
      }
      entry.resolve();
      this.completedAt = this.clock.now();
      if (this.timing !== false && !this.reacting) {
        this.reacting = true;
        setImmediate(() => (this.reacting = false)); // runs once the reactions (promise continuations) are done
      }
    } else {
      entry.reject(new OtaError('CAN_DETACHED', `node ${entry.node.name} left the bus during transmission`));
    }
    this.startNext();
  }

  private detach(node: NodeState): void {
    if (!node.attached) return;
    node.attached = false;
    node.listeners.clear();
    this.nodes.delete(node);
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const pending = this.queue[i] as Pending;
      if (pending.node !== node) continue;
      this.queue.splice(i, 1);
      pending.reject(new OtaError('CAN_DETACHED', `node ${node.name} left the bus`));
    }
  }
}
