//! The account resource of ARM (`Microsoft.CognitiveServices/accounts`): the resource, its identity and encryption.
