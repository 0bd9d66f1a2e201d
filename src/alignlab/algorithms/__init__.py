"""Methods as small plug-ins of the two training loops (offline: batch → loss → step; online: rollout → score →
advantage → update). Which plug-in a verb uses is `alignlab.methods.METHODS`."""
