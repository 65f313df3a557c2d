"""Networks: the skeleton graph, backbones (ST-GCN) and the skeleton-to-text projection."""
