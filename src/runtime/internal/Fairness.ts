/**
 * Fairness between a busy job and everything else on the event loop: Effect's
 * own yielding (every 2048 operations) stays on microtasks for thousands of
 * rounds, so sockets — new WebSocket handshakes, pings, other sessions — would
 * wait until the job paused. A job that emits in a tight loop gives the event
 * loop one full turn (its I/O callbacks) every few events instead
 * (`yieldToEventLoop`, src/internal/EventLoop).
 */

/** How many of its own events a job emits between two turns of the event loop. */
export const EVENTS_PER_TURN = 64
