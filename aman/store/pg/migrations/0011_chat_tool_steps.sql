-- 0011 (PostgreSQL): the agent's tool rounds of a reply: JSON list of {text, calls, results}, so
-- history, retry and edit keep the tool calls and their results and the model sees them again.
ALTER TABLE chat_messages ADD COLUMN tool_steps TEXT;
