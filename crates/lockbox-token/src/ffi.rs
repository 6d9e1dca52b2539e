//! The one place Lockbox calls PKCS#11 functions itself rather than through cryptoki.
//!
//! Why: cryptoki 0.12's `Session::encrypt`/`decrypt` size their output with a length query
//! (a second C_Encrypt call, answered wrongly by some modules) and return a fresh `Vec`,
//! so plaintext would land in a buffer we do not control. We need one C_Encrypt or C_Decrypt
//! into a buffer the caller sized and owns (a zeroizing one, for plaintext).
//!
//! What: the module is opened a second time (the loader returns the same, reference-counted
//! image), its function list is read once, and only `C_Encrypt`, `C_Decrypt` and
//! `C_GetAttributeValue` are called through it, on sessions and operations that cryptoki
//! opened and initialized.
//!
//! `C_GetAttributeValue` for the same reason: cryptoki's `get_attributes` copies a value out
//! of a buffer it then frees without zeroizing, and the private halves of data key pairs are
//! read into buffers the caller sized and owns (zeroizing ones).
#![allow(unsafe_code)]

use std::path::Path;

use cryptoki::context::Function;
use cryptoki::error::Rv;
use cryptoki_sys::{
    CK_ATTRIBUTE, CK_ATTRIBUTE_PTR, CK_ATTRIBUTE_TYPE, CK_BYTE_PTR, CK_OBJECT_HANDLE, CK_RV,
    CK_SESSION_HANDLE, CK_ULONG, CK_ULONG_PTR,
};

use crate::error::TokenError;

type CryptFn = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_BYTE_PTR,
    CK_ULONG,
    CK_BYTE_PTR,
    CK_ULONG_PTR,
) -> CK_RV;

type GetAttributeValueFn =
    unsafe extern "C" fn(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG) -> CK_RV;

/// `C_Encrypt`, `C_Decrypt` and `C_GetAttributeValue` of a loaded module.
pub(crate) struct RawCalls {
    // Keeps the module image mapped for as long as the function pointers below are used.
    _library: cryptoki_sys::Pkcs11,
    encrypt: CryptFn,
    decrypt: CryptFn,
    get_attribute_value: Option<GetAttributeValueFn>,
    #[cfg(feature = "test-support")]
    close_all_sessions: Option<unsafe extern "C" fn(cryptoki_sys::CK_SLOT_ID) -> CK_RV>,
}

impl RawCalls {
    pub(crate) fn load(module: &Path) -> Result<Self, TokenError> {
        let module_err = |reason: String| TokenError::Module {
            module: module.display().to_string(),
            reason,
        };
        // SAFETY: loading a PKCS#11 module runs its initializers; the same module is already
        // loaded by cryptoki in this process, so this only takes another reference to it.
        let library =
            unsafe { cryptoki_sys::Pkcs11::new(module) }.map_err(|e| module_err(e.to_string()))?;
        let mut list = std::ptr::null_mut();
        // SAFETY: C_GetFunctionList writes a pointer to the module's static function table.
        let rv = unsafe { library.C_GetFunctionList(&mut list) };
        Rv::from(rv)
            .into_result(Function::GetFunctionList)
            .map_err(|e| module_err(e.to_string()))?;
        if list.is_null() {
            return Err(module_err("C_GetFunctionList returned no table".into()));
        }
        // SAFETY: `list` is non-null and points into the module's static data, which stays
        // mapped while `library` is alive; we copy the two pointers out of it.
        let (encrypt, decrypt, get_attribute_value) = unsafe {
            (
                (*list).C_Encrypt,
                (*list).C_Decrypt,
                (*list).C_GetAttributeValue,
            )
        };
        #[cfg(feature = "test-support")]
        // SAFETY: as above.
        let close_all_sessions = unsafe { (*list).C_CloseAllSessions };
        match (encrypt, decrypt) {
            (Some(encrypt), Some(decrypt)) => Ok(RawCalls {
                _library: library,
                encrypt,
                decrypt,
                get_attribute_value,
                #[cfg(feature = "test-support")]
                close_all_sessions,
            }),
            _ => Err(module_err(
                "the module does not provide C_Encrypt and C_Decrypt".into(),
            )),
        }
    }

    /// One C_Encrypt of `input` into `out`; returns the number of bytes written.
    /// An encryption operation must already be initialized on `session`.
    pub(crate) fn encrypt(
        &self,
        session: CK_SESSION_HANDLE,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<usize, cryptoki::error::Error> {
        self.call(self.encrypt, Function::Encrypt, session, input, out)
    }

    /// One C_Decrypt of `input` into `out`; returns the number of bytes written.
    /// A decryption operation must already be initialized on `session`.
    pub(crate) fn decrypt(
        &self,
        session: CK_SESSION_HANDLE,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<usize, cryptoki::error::Error> {
        self.call(self.decrypt, Function::Decrypt, session, input, out)
    }

    /// One C_GetAttributeValue of `object` that writes each attribute's value into its own
    /// buffer, which must be exactly the value's length (ask for the lengths first, with
    /// cryptoki's `get_attribute_info`, which passes no buffer). A value of another length,
    /// or one the token will not reveal, is an error: nothing is resized or copied here.
    pub(crate) fn read_attributes(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        wanted: &mut [(CK_ATTRIBUTE_TYPE, &mut [u8])],
    ) -> Result<(), cryptoki::error::Error> {
        let f = self
            .get_attribute_value
            .ok_or(cryptoki::error::Error::NullFunctionPointer)?;
        let mut template = Vec::with_capacity(wanted.len());
        for (kind, buf) in wanted.iter_mut() {
            template.push(CK_ATTRIBUTE {
                type_: *kind,
                pValue: buf.as_mut_ptr().cast(),
                ulValueLen: CK_ULONG::try_from(buf.len())?,
            });
        }
        let count = CK_ULONG::try_from(template.len())?;
        // SAFETY: every template entry points to a live, writable buffer of the length given
        // with it, and `template` outlives the call; the module writes at most that many
        // bytes into each and reports the real length in `ulValueLen`.
        let rv = unsafe { f(session, object, template.as_mut_ptr(), count) };
        Rv::from(rv).into_result(Function::GetAttributeValue)?;
        for (t, (_, buf)) in template.iter().zip(wanted.iter()) {
            if usize::try_from(t.ulValueLen).ok() != Some(buf.len()) {
                return Err(cryptoki::error::Error::InvalidValue);
            }
        }
        Ok(())
    }

    /// C_CloseAllSessions: closes every session of this process on `slot`, which also logs
    /// the process out. Only fault-injection tests do this to the engine.
    #[cfg(feature = "test-support")]
    pub(crate) fn close_all_sessions(
        &self,
        slot: cryptoki_sys::CK_SLOT_ID,
    ) -> Result<(), cryptoki::error::Error> {
        let f = self
            .close_all_sessions
            .ok_or(cryptoki::error::Error::NullFunctionPointer)?;
        // SAFETY: a plain call with a slot id; the module validates the id.
        let rv = unsafe { f(slot) };
        Rv::from(rv).into_result(Function::CloseAllSessions)
    }

    fn call(
        &self,
        f: CryptFn,
        function: Function,
        session: CK_SESSION_HANDLE,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<usize, cryptoki::error::Error> {
        let in_len = CK_ULONG::try_from(input.len())?;
        let mut out_len = CK_ULONG::try_from(out.len())?;
        // SAFETY: `input` and `out` are live slices whose lengths are passed with them; the
        // module reads at most `in_len` bytes and writes at most `out_len` bytes, and reports
        // what it wrote in `out_len`. A non-null output pointer makes this the real operation,
        // never a length query. The input pointer is cast to *mut only because the C
        // prototype lacks `const`; PKCS#11 does not write through it.
        let rv = unsafe {
            f(
                session,
                input.as_ptr().cast_mut(),
                in_len,
                out.as_mut_ptr(),
                &mut out_len,
            )
        };
        Rv::from(rv).into_result(function)?;
        let written = usize::try_from(out_len)?;
        // A conforming module never reports more than the buffer holds; refuse if one does.
        if written > out.len() {
            return Err(cryptoki::error::Error::InvalidValue);
        }
        Ok(written)
    }
}
