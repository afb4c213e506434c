"""Client-facing protocols other than OpenAI's: each translates to and from the OpenAI chat
shape the rest of the gateway speaks internally (../shared/PROTOCOLS.md §5)."""
