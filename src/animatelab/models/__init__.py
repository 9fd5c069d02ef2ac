"""Model parts: the base, the domain adapter's LoRA recipe, motion modules, and :mod:`.assemble`,
the one place a base, a domain adapter and a motion module become a UNet or a video pipeline."""
