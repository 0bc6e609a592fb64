// The customer chat: the standalone page /chat/{store_key} and, with ?embed=1, the panel of widget.js.
// Guarantees it keeps (docs/widget.md): a message gets its client_msg_id when written and is kept in the outbox until
// acknowledged, so every message is sent exactly once across drops and reloads; what is shown is de-duplicated by
// message id and client_msg_id; after every reconnect the socket syncs from the last seq the page holds.
// The parts, one module each: context (shared state), layout, host (the embedding page), session, live (the socket's
// frames), composer (sending and the outbox), voice, calls, messages, cards, sheets, booking, entries (报修 / 预约), status.
// Each adds its listeners as it loads and uses the others only inside functions, so they may import each other.
import { realtime, state } from "./context.js";
import "./live.js";
import "./voice.js";
import { calls } from "./calls.js";
import { start } from "./session.js";

start();

// For tests and the host page's console: what the widget holds.
window.storelinkWidget = { state, realtime, calls };
