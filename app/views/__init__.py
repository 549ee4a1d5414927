"""The lab's views. Each is a `pn.viewable.Viewer` that reads a LabSession and never runs
the model itself; each builds its figures and data sources once and then feeds them."""
