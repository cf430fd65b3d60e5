"""What every worker needs: the instrument description and paths under $OHMPI_VAR."""

from __future__ import annotations

from pathlib import Path

from bus.config import load_file, var_dir
from ohmpi import config as instrument_config
from ohmpi.geometry import line_positions, positions_from_xyz


def instrument() -> dict:
    """The validated `[instrument]` table of the config file (defaults for missing keys)."""
    return instrument_config.load(load_file().get("instrument", {}))


def positions(cfg: dict) -> list[list[float]]:
    """Electrode positions [x, y, z] from the instrument description."""
    if cfg.get("positions"):
        return positions_from_xyz(cfg["positions"]).tolist()
    return line_positions(cfg["n_electrodes"], cfg["spacing_m"]).tolist()


def var_path(name: str) -> Path:
    return var_dir() / name
