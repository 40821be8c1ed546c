//! Name, password and character-set rules of the API (reference/rds-api.md §5.8, §5.10;
//! API.md "Databases and accounts" in the shared design documents). Pure checks, one
//! message per rule so the caller learns exactly what to change. What differs between
//! engines (reserved names, length limits, character sets) comes from each engine's
//! catalogue.

use crate::{ControlError, Result};
use engine::{Catalogue, CharsetSpec};

/// `DBName` on the engine of `catalogue` (see [`Catalogue::check_db_name`]).
pub fn check_db_name(catalogue: &Catalogue, name: &str) -> Result<()> {
    catalogue.check_db_name(name).map_err(ControlError::DbNameFormat)
}

/// The part of the `DBName` rule every engine shares, for callers that do not know the
/// engine yet.
pub fn check_db_name_format(name: &str) -> Result<()> {
    engine::check_db_name_format(name).map_err(ControlError::DbNameFormat)
}

/// `AccountName` on the engine of `catalogue` (see [`Catalogue::check_account_name`]).
pub fn check_account_name(catalogue: &Catalogue, name: &str) -> Result<()> {
    catalogue.check_account_name(name).map_err(ControlError::AccountNameFormat)
}

const PASSWORD_SPECIALS: &str = "!@#$%^&*()_+-=";

/// `AccountPassword`: 8–32 characters from letters, digits and `!@#$%^&*()_+-=`, using at
/// least three of: uppercase, lowercase, digits, specials. The message never echoes it.
pub fn check_password(password: &str) -> Result<()> {
    let fail = |why: &str| Err(ControlError::PasswordMalformed(format!("The specified AccountPassword is not valid: {why}.")));
    let len = password.chars().count();
    if !(8..=32).contains(&len) {
        return fail("it must be 8 to 32 characters long");
    }
    if !password.chars().all(|c| c.is_ascii_alphanumeric() || PASSWORD_SPECIALS.contains(c)) {
        return fail("only letters, digits and the special characters !@#$%^&*()_+-= are allowed");
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| PASSWORD_SPECIALS.contains(c)),
    ];
    if classes.iter().filter(|&&b| b).count() < 3 {
        return fail("it must contain at least three of: uppercase letters, lowercase letters, digits, special characters");
    }
    Ok(())
}

/// `CharacterSetName`, as the engine of `catalogue` reads it.
pub fn parse_charset(catalogue: &Catalogue, value: &str) -> Result<CharsetSpec> {
    (catalogue.parse_charset)(value)
        .map_err(|why| ControlError::CharsetFormat(format!("The specified CharacterSetName {value:?} is not valid: {why}.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_need_three_classes_and_the_right_length() {
        check_password("Passw0rd").unwrap();
        check_password("pass_w0rd").unwrap();
        for bad in ["short1A", "alllowercase", "ALLUPPER123", "Passw0rd space", "Pässw0rd!", &"Aa1".repeat(11)] {
            let err = check_password(bad).unwrap_err();
            assert!(!err.to_string().contains(bad), "message must not echo the password");
        }
    }
}
