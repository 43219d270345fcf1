//! Serde forms of the validated names and texts: each is written as its display string and
//! read back through its own parser, so a value that deserializes is one that validates.

use serde::de::{Deserializer, Error as _};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::nick::Nick;
use crate::room::RoomName;
use crate::text::MessageText;

impl Serialize for Nick {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Nick {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(|e| D::Error::custom(format!("nick {s:?}: {e}")))
    }
}

impl Serialize for RoomName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RoomName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(|e| D::Error::custom(format!("room {s:?}: {e}")))
    }
}

impl Serialize for MessageText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MessageText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(|e| D::Error::custom(format!("text: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_texts_round_trip_and_invalid_ones_are_refused() {
        let nick = Nick::parse("Zoë").unwrap();
        let json = serde_json::to_string(&nick).unwrap();
        assert_eq!(json, "\"Zoë\"");
        let back: Nick = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_str(), "Zoë");
        let room: RoomName = serde_json::from_str("\"Lobby\"").unwrap();
        assert_eq!((room.as_str(), room.key()), ("Lobby", "lobby"));
        let text: MessageText = serde_json::from_str("\"hi\"").unwrap();
        assert_eq!(text.as_str(), "hi");
        assert!(serde_json::from_str::<Nick>("\"a b\"").is_err());
        assert!(serde_json::from_str::<RoomName>("\"\"").is_err());
        assert!(serde_json::from_str::<MessageText>("\"a\\nb\"").is_err());
    }
}
