"""Pure renderers: each format turns the same values into a string; `controller.console`
decides where it goes. Registry text reaches them already cleaned (`render.sanitize`)."""
