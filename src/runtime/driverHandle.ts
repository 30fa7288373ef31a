/**
 * The lifetime every driver object shares (device buffer, stream, event, module): explicit
 * `dispose()` / `using`, use-after-dispose caught in JS, and a FinalizationRegistry as a safety net.
 */
import { checkCuda } from "../ffi/cuda.ts";
import { DisposedError } from "../errors.ts";
import type { Device } from "./device.ts";

/** How to free one kind of handle: the driver call and its name (for the error). */
export interface Destroyer {
  call: string;
  destroy(handle: bigint): number;
}

const registry = new FinalizationRegistry<{ handle: bigint; destroyer: Destroyer }>(({ handle, destroyer }) => {
  // Safety net for objects never disposed. A finalizer has no caller to report to, so the result
  // is dropped; leaking the handle instead would be worse.
  destroyer.destroy(handle);
});

export abstract class DriverHandle {
  #handle: bigint;
  #live = true;

  /** `destroyer` undefined: a borrowed handle (the default stream) that is never freed. */
  protected constructor(
    readonly device: Device,
    handle: bigint,
    private readonly what: string,
    private readonly destroyer: Destroyer | undefined,
  ) {
    this.#handle = handle;
    if (destroyer) registry.register(this, { handle, destroyer }, this);
  }

  get disposed(): boolean {
    return !this.#live;
  }

  /** The raw handle. @throws DisposedError after dispose(), so a freed handle never reaches the driver. */
  protected get liveHandle(): bigint {
    if (!this.#live) throw new DisposedError(this.what);
    return this.#handle;
  }

  /** Frees the driver object. Idempotent. */
  dispose(): void {
    if (!this.#live || !this.destroyer) return;
    this.#live = false;
    registry.unregister(this);
    this.device.activate();
    checkCuda(this.destroyer.call, this.destroyer.destroy(this.#handle));
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
