"""Synthetic hourly bike rentals: no download, a fixed seed, the shape of real demand."""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = ["hour", "weekday", "temperature", "humidity", "season"]
SEASONS = ["winter", "spring", "summer", "autumn"]


def make_data(rows: int = 3000, seed: int = 42) -> tuple[pd.DataFrame, pd.Series]:
    """Commute peaks on weekdays, a leisure hump at weekends; warm dry days and summer are busy."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(0, 24, rows)
    weekday = rng.integers(0, 7, rows)  # 0 = Monday
    season = rng.integers(0, 4, rows)
    temperature = (rng.normal(16, 6, rows) + np.array([-8, 0, 8, 0])[season]).round(1)
    humidity = rng.uniform(0.2, 1.0, rows).round(2)

    weekend = weekday >= 5
    commute = np.exp(-((hour - 8) ** 2) / 3) + np.exp(-((hour - 17.5) ** 2) / 4)
    leisure = np.exp(-((hour - 14) ** 2) / 12)
    daily = np.where(weekend, 300 * leisure, 450 * commute + 80 * leisure)
    weather = 1 + 0.03 * (temperature - 16) - 0.6 * (humidity - 0.6)
    seasonal = np.array([0.6, 1.0, 1.2, 0.9])[season]
    rentals = np.clip(20 + daily * weather * seasonal + rng.normal(0, 25, rows), 0, None).round()

    features = pd.DataFrame(
        {
            "hour": hour,
            "weekday": weekday,
            "temperature": temperature,
            "humidity": humidity,
            "season": np.array(SEASONS)[season],
        }
    )
    return features, pd.Series(rentals, name="rentals")
