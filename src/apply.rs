//! Execute a plan with an undo journal (to be written).
