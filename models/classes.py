"""Simpang's vehicle classes and the mapping from detector class ids onto them.

Detectors speak their own vocabularies (COCO's 80 classes, or a custom list). Every stage after
the detector speaks :class:`VehicleClass` only; the mapping happens once, in the model adapter.
"""

from __future__ import annotations

from enum import IntEnum


class VehicleClass(IntEnum):
    """Road-user classes counted by Simpang.

    Motorcycles are a class of their own: in Indonesian cities they are most of the traffic and
    carry their own passenger-car-unit weight (PKJI 2023).
    """

    CAR = 0
    MOTORCYCLE = 1
    BUS = 2
    TRUCK = 3
    BICYCLE = 4
    PERSON = 5

    @property
    def label(self) -> str:
        """Lower-case name used in configs, CSV headers and the API (``"motorcycle"``)."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> VehicleClass:
        """Parse a lower-case label; raises ``ValueError`` naming the valid labels."""
        try:
            return cls[label.strip().upper()]
        except KeyError:
            valid = ", ".join(c.label for c in cls)
            raise ValueError(f"unknown vehicle class {label!r} (valid: {valid})") from None


#: The number of Simpang vehicle classes; arrays indexed by class have this length.
NUM_CLASSES = len(VehicleClass)

#: Motorised vehicles, the classes that count towards traffic flow.
MOTORISED = (VehicleClass.CAR, VehicleClass.MOTORCYCLE, VehicleClass.BUS, VehicleClass.TRUCK)

#: COCO class id -> Simpang class, for detectors trained on COCO (YOLOX, YOLOv5/v8/11 releases).
COCO_TO_VEHICLE: dict[int, VehicleClass] = {
    0: VehicleClass.PERSON,
    1: VehicleClass.BICYCLE,
    2: VehicleClass.CAR,
    3: VehicleClass.MOTORCYCLE,
    5: VehicleClass.BUS,
    7: VehicleClass.TRUCK,
}

#: Class names that a custom model may use, mapped onto Simpang classes (case-insensitive).
NAME_ALIASES: dict[str, VehicleClass] = {
    "car": VehicleClass.CAR,
    "van": VehicleClass.CAR,
    "light_vehicle": VehicleClass.CAR,
    "motorcycle": VehicleClass.MOTORCYCLE,
    "motorbike": VehicleClass.MOTORCYCLE,
    "motor": VehicleClass.MOTORCYCLE,
    "bus": VehicleClass.BUS,
    "truck": VehicleClass.TRUCK,
    "lorry": VehicleClass.TRUCK,
    "heavy_vehicle": VehicleClass.TRUCK,
    "bicycle": VehicleClass.BICYCLE,
    "bike": VehicleClass.BICYCLE,
    "person": VehicleClass.PERSON,
    "pedestrian": VehicleClass.PERSON,
}


def class_map_from_names(names: dict[int, str]) -> dict[int, VehicleClass]:
    """Build a detector-id -> Simpang-class map from a model's own class names.

    Names that Simpang does not know are left out, so their detections are dropped.

    Example:
        >>> class_map_from_names({0: "person", 2: "car", 9: "traffic light"})
        {0: <VehicleClass.PERSON: 5>, 2: <VehicleClass.CAR: 0>}
    """
    return {
        idx: NAME_ALIASES[name.strip().lower().replace(" ", "_")]
        for idx, name in names.items()
        if name.strip().lower().replace(" ", "_") in NAME_ALIASES
    }
