//! Length-prefixed framing: a 4-byte big-endian length, then a postcard payload.

use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest payload accepted or sent, in bytes (8 MiB).
pub const MAX_FRAME_LEN: usize = 8 * 1024 * 1024;

/// Errors of reading or writing one frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection cleanly between two frames.
    #[error("connection closed")]
    Closed,
    /// The stream ended inside a frame.
    #[error("connection closed inside a frame ({got} of {expected} bytes read)")]
    Truncated {
        /// Bytes that arrived.
        got: usize,
        /// Bytes the frame announced, including the length prefix.
        expected: usize,
    },
    /// The announced length is above [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge {
        /// The announced or encoded length.
        len: usize,
    },
    /// The payload is not a valid postcard encoding of the expected type.
    #[error("malformed frame payload: {0}")]
    Decode(#[source] postcard::Error),
    /// The value could not be encoded.
    #[error("failed to encode frame: {0}")]
    Encode(#[source] postcard::Error),
    /// An I/O error of the underlying stream.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes `value` as one frame and writes it, then flushes.
pub async fn write_frame<W, T>(writer: &mut W, value: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize + ?Sized,
{
    let payload = encode_payload(value)?;
    let mut buf = Vec::with_capacity(4 + payload.len());
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(&payload);
    writer.write_all(&buf).await?;
    writer.flush().await?;
    Ok(())
}

/// Encodes `value` as a payload without the length prefix, checking the size limit.
pub fn encode_payload<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, FrameError> {
    let payload = postcard::to_stdvec(value).map_err(FrameError::Encode)?;
    if payload.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len: payload.len() });
    }
    Ok(payload)
}

/// Reads one frame and decodes its payload.
///
/// Returns [`FrameError::Closed`] when the stream ends cleanly before the
/// first byte of a frame, and never allocates more than [`MAX_FRAME_LEN`].
pub async fn read_frame<R, T>(reader: &mut R) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < prefix.len() {
        let n = reader.read(&mut prefix[got..]).await?;
        if n == 0 {
            return Err(if got == 0 {
                FrameError::Closed
            } else {
                FrameError::Truncated { got, expected: 4 }
            });
        }
        got += n;
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len });
    }
    let mut payload = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = reader.read(&mut payload[got..]).await?;
        if n == 0 {
            return Err(FrameError::Truncated {
                got: 4 + got,
                expected: 4 + len,
            });
        }
        got += n;
    }
    postcard::from_bytes(&payload).map_err(FrameError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frame_round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &("hello".to_string(), 7u32))
            .await
            .unwrap();
        assert_eq!(&buf[..4], &(buf.len() as u32 - 4).to_be_bytes());
        let value: (String, u32) = read_frame(&mut buf.as_slice()).await.unwrap();
        assert_eq!(value, ("hello".to_string(), 7));
    }

    #[tokio::test]
    async fn oversized_frame_rejected_before_allocation() {
        let mut buf = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
        buf.extend_from_slice(&[0; 16]);
        let err = read_frame::<_, u32>(&mut buf.as_slice()).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len } if len == MAX_FRAME_LEN + 1));
    }

    #[tokio::test]
    async fn oversized_payload_not_sent() {
        let big = vec![1u8; MAX_FRAME_LEN + 1];
        let mut buf = Vec::new();
        let err = write_frame(&mut buf, &big).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }));
        assert!(buf.is_empty());
    }

    #[tokio::test]
    async fn truncated_payload_reported() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &"a longer string".to_string())
            .await
            .unwrap();
        buf.truncate(buf.len() - 3);
        let err = read_frame::<_, String>(&mut buf.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Truncated { .. }), "{err}");
    }

    #[tokio::test]
    async fn truncated_prefix_reported() {
        let buf = [0u8, 0];
        let err = read_frame::<_, String>(&mut buf.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            FrameError::Truncated {
                got: 2,
                expected: 4
            }
        ));
    }

    #[tokio::test]
    async fn clean_close_between_frames() {
        let buf: [u8; 0] = [];
        let err = read_frame::<_, String>(&mut buf.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Closed));
    }

    #[tokio::test]
    async fn garbage_payload_is_decode_error() {
        let mut buf = 2u32.to_be_bytes().to_vec();
        buf.extend_from_slice(&[0xff, 0xff]);
        let err = read_frame::<_, String>(&mut buf.as_slice())
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Decode(_)));
    }
}
