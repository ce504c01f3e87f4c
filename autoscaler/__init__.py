"""compose-flowise: autoscale Flowise on Docker Compose, with nginx upstreams that follow."""
