-- Commands a store's system accepted (202) and has yet to answer, by when they were accepted: the dispatcher gives up
-- those left unanswered for Connectors:CommandAnswerPeriod.
CREATE INDEX connector_commands_accepted ON connector_commands(last_attempt_at) WHERE status = 'accepted';
