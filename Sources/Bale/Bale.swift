// Bale
