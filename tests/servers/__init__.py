"""Real servers the tests start on 127.0.0.1 (ephemeral ports), and helpers to reach them."""
