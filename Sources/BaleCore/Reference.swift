// Placeholder: the Reference type (distribution grammar + docker normalisation) is being written.
