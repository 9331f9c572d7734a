"""The app's tabs, one module each: its texts, its components and their event wiring, its handlers and the
helpers that present their results. Each handler returns a NamedTuple whose fields are named after the
components it fills, in the order the wiring lists them."""
