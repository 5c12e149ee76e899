/* mortar serve web UI (first cut) */
