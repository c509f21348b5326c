"""The `evr` command: wires the control plane, the recorder and the evidence tools together."""
