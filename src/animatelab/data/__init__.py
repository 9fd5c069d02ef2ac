"""Data: the synthetic world, WebVid-format I/O, clip preparation and streaming shards."""
