"""The digital twin: a SUMO intersection rendered into camera frames with exact ground truth.

Modules follow the data flow of one frame: :mod:`edge.twin.world` runs SUMO (libsumo) on a
four-leg left-hand junction, :mod:`edge.twin.scene` turns its vehicles into 3D boxes,
:mod:`edge.twin.camera` projects them through a pinhole camera on a pole,
:mod:`edge.twin.render` paints them, :mod:`edge.twin.truth` keeps boxes and movement counts,
and :mod:`edge.twin.source` offers the result as a frame source (``twin:fourleg?seed=3``).
"""
