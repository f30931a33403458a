// What the screen must read again, coalesced: live events and clicks ask for parts
// (queues, lists, the open conversation, agents) and one run reads them together.

/**
 * `pending` with `what` added. A part once wanted stays wanted until the run that reads
 * it: a later request that does not want it (an event about another conversation says
 * `conversation: false`) must not cancel it, or a conversation just opened never loads.
 */
export function wanted(pending, what) {
  const merged = { ...pending };
  for (const [part, want] of Object.entries(what)) {
    if (want) merged[part] = true;
  }
  return merged;
}
