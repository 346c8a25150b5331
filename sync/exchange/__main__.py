"""`python -m sync.exchange …`: the exchange CLI without the main xcircle CLI."""

from __future__ import annotations

from .cli import exchange

if __name__ == "__main__":
    exchange(prog_name="python -m sync.exchange")
