"""What the views share: the View base, HTML helpers, layouts, the heat map, storage."""
