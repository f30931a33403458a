// What the signed-in person may do with a conversation now, and why not: the rules the API
// enforces (README "The rules", "The workspace"), checked here first so a button is
// disabled with its reason instead of failing. The API stays the judge: an action it
// refuses shows its error.

export const STATE_LABELS = {
  awaiting_reply: 'awaiting reply',
  menu: 'in the menu',
  bot: 'with the assistant',
  queued: 'waiting',
  assigned: 'in progress',
  on_hold: 'on hold',
  closed: 'closed',
};

export function stateLabel(state) {
  return STATE_LABELS[state] || state;
}

const HELD = new Set(['assigned', 'on_hold', 'awaiting_reply']);

function allow(hint = '') {
  return { allowed: true, reason: '', hint };
}

function deny(reason) {
  return { allowed: false, reason };
}

/** Is the contact's 24-hour window open at `now` (server time, ms)? */
export function windowOpen(conversation, now) {
  const w = conversation.window;
  if (!w || !w.open) return false;
  return w.closes_at == null || now < w.closes_at;
}

/**
 * @param {object} c the conversation (GET /v1/conversations/{id}: with `window`)
 * @param {{sub: string, role: string, queues: string[]}} me the caller's claims
 * @param {{now: number, queues: Map<string, {assignment: string, name: string}>, fmtTime: (ms: number) => string}} ctx
 * @returns {Record<string, {allowed: boolean, reason: string, hint?: string}>}
 */
export function rules(c, me, ctx) {
  const supervisor = me.role === 'supervisor';
  const state = c.state;
  const closed = state === 'closed';
  const mine = !!c.agent && c.agent === me.sub;
  const otherOwner = HELD.has(state) && !!c.agent && !mine && !supervisor;
  const withAssistant = state === 'bot' || state === 'menu';
  const queue = c.queue ? ctx.queues.get(c.queue) : null;
  const queueName = queue ? queue.name || c.queue : c.queue;
  const inMyQueues = supervisor || (c.queue && (me.queues || []).includes(c.queue));
  const manualQueue = !queue || queue.assignment !== 'first_reply';
  const open = windowOpen(c, ctx.now);

  const CLOSED = 'The conversation is closed.';
  const ASSISTANT = 'The AI assistant has it (no human handoff yet).';
  const OWNER = `${c.agent} has it: only its agent or a supervisor may act.`;
  const CAPTURE_FIRST = `Capture it first: ${queueName ? `the ${queueName} queue` : 'this queue'} assigns by manual capture.`;
  const AWAITING = 'Waiting for the contact’s reply to the template: only templates, hold and close until they answer.';

  const r = {};

  // capture
  if (closed) r.capture = deny(CLOSED);
  else if (state === 'queued') r.capture = inMyQueues ? allow() : deny('Not one of your queues.');
  else if (mine) r.capture = deny('Already yours.');
  else if (c.agent) r.capture = deny(`Already captured by ${c.agent}.`);
  else r.capture = deny(`Only a waiting conversation can be captured (this one is ${stateLabel(state)}).`);

  // free-form text
  if (closed) r.text = deny(`${CLOSED} Nothing more can be sent.`);
  else if (withAssistant) r.text = deny(ASSISTANT);
  else if (otherOwner) r.text = deny(OWNER);
  else if (state === 'queued' && !inMyQueues) r.text = deny('Not one of your queues.');
  else if (state === 'queued' && manualQueue) r.text = deny(CAPTURE_FIRST);
  else if (state === 'awaiting_reply') r.text = deny(AWAITING);
  else if (!open) {
    const w = c.window || {};
    if (!w.last_inbound_at) r.text = deny('The contact has not written yet: only a template may start the conversation.');
    else r.text = deny(`The 24-hour window closed${w.closes_at ? ` at ${ctx.fmtTime(w.closes_at)}` : ''}: only templates until the contact writes again.`);
  } else if (state === 'queued' && !manualQueue) r.text = allow('Answering captures it (first reply).');
  else r.text = allow();

  // templates
  if (closed) r.template = deny(`${CLOSED} Nothing more can be sent.`);
  else if (withAssistant) r.template = deny(ASSISTANT);
  else if (otherOwner) r.template = deny(OWNER);
  else if (state === 'queued' && !inMyQueues) r.template = deny('Not one of your queues.');
  else if (state === 'queued' && manualQueue) r.template = deny(CAPTURE_FIRST);
  else r.template = allow();

  // transfer
  if (closed) r.transfer = deny(CLOSED);
  else if (withAssistant) r.transfer = deny(ASSISTANT);
  else if (state === 'awaiting_reply') r.transfer = deny(AWAITING);
  else if (otherOwner) r.transfer = deny(OWNER);
  else if (state === 'queued' && !inMyQueues) r.transfer = deny('Not one of your queues.');
  else r.transfer = allow();

  // hold / resume
  if (closed) r.hold = deny(CLOSED);
  else if (state === 'on_hold') r.hold = deny('Already on hold.');
  else if (state === 'queued') r.hold = deny('Only a conversation with an agent can be put on hold: capture it first.');
  else if (withAssistant) r.hold = deny(ASSISTANT);
  else if (otherOwner) r.hold = deny(OWNER);
  else r.hold = allow();

  if (state === 'on_hold') r.resume = otherOwner ? deny(OWNER) : allow();
  else r.resume = deny('Not on hold.');

  // close
  if (closed) r.close = deny('Already closed.');
  else if (otherOwner) r.close = deny(OWNER);
  else if (withAssistant && !supervisor) r.close = deny(ASSISTANT);
  else if (state === 'queued' && !inMyQueues) r.close = deny('Not one of your queues.');
  else r.close = allow();

  // archive / unarchive (an agent-side flag of its own conversations)
  if (c.archived) r.archive = deny('Already archived.');
  else if (state === 'awaiting_reply') r.archive = deny(AWAITING);
  else if (!mine && !supervisor) r.archive = deny(c.agent ? OWNER : 'Only your own conversations can be archived: capture it first.');
  else r.archive = allow();

  if (!c.archived) r.unarchive = deny('Not archived.');
  else if (!mine && !supervisor) r.unarchive = deny(OWNER);
  else r.unarchive = allow();

  return r;
}
