"""How the bot answers a message: pick chat, docs or agent, and return one stream of text to show."""
