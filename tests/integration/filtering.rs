//! Tool filtering, categorization and search through the running hub (to be written).
