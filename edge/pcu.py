"""Passenger-car-unit weights per vehicle class (PKJI 2023, Indonesian Highway Capacity Guideline).

PKJI groups vehicles as light (KR: cars, vans, pick-ups), heavy (KB: buses, trucks) and
motorcycles (SM). At signalised junctions a motorcycle weighs less on a protected approach (0.15)
than on an opposed one (0.40), where turning motorcycles must weave through oncoming traffic.
Pedestrians carry no weight; bicycles are side friction in PKJI (0 by default).

Example:
    >>> from edge.config import PcuConfig
    >>> w = class_weights(PcuConfig(), opposed=True)
    >>> float(w[VehicleClass.MOTORCYCLE]), float(w[VehicleClass.TRUCK])
    (0.4, 1.3)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.config import PcuConfig
from models.classes import NUM_CLASSES, VehicleClass


def class_weights(pcu: PcuConfig, opposed: bool) -> npt.NDArray[np.float64]:
    """``(NUM_CLASSES,)`` PCU weight of one vehicle of each class on an approach."""
    w = np.zeros(NUM_CLASSES)
    w[VehicleClass.CAR] = pcu.light
    w[VehicleClass.BUS] = pcu.heavy
    w[VehicleClass.TRUCK] = pcu.heavy
    w[VehicleClass.MOTORCYCLE] = pcu.motorcycle_opposed if opposed else pcu.motorcycle_protected
    w[VehicleClass.BICYCLE] = pcu.bicycle
    w[VehicleClass.PERSON] = 0.0
    return w
