//! The managed identity endpoints (App Service and IMDS protocols): their token answers.
