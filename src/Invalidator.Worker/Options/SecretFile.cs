namespace Invalidator.Worker.Options;

/// <summary>
/// A password kept in a file of its own (a mounted Kubernetes secret, a Docker secret): the file's text without
/// its trailing line breaks, which <c>echo</c> and editors add and no password means. Errors name the key that
/// gave the path and never show the file's content.
/// </summary>
internal static class SecretFile
{
    private const int MaxLength = 4096;

    /// <summary>The secret, or a fix-it message in <paramref name="error"/> (null on success).</summary>
    public static string? TryRead(string path, string key, out string? error)
    {
        try
        {
            // Bounded, so a wrong path such as /dev/zero or a large file fails instead of filling memory.
            using var reader = new StreamReader(path);
            var buffer = new char[MaxLength + 1];
            var read = reader.ReadBlock(buffer);
            if (read > MaxLength)
            {
                error = $"{key} names {path}, which is longer than {MaxLength} characters: not a password file; correct the path.";
                return null;
            }

            var text = new string(buffer, 0, read).TrimEnd('\r', '\n');
            if (text.Length == 0)
            {
                error = $"{key} names {path}, which is empty: write the password into it (a trailing line break is ignored).";
                return null;
            }

            error = null;
            return text;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            error = $"{key} names {path}, which cannot be read ({Reason(ex)}): mount the secret there and let the worker's user read it, or correct the path.";
            return null;
        }
    }

    /// <summary>The secret; throws <see cref="SecretFileException"/> with the fix-it message when the file cannot be read.</summary>
    public static string Read(string path, string key) =>
        TryRead(path, key, out var error) ?? throw new SecretFileException(error!);

    private static string Reason(Exception ex) => ex switch
    {
        FileNotFoundException or DirectoryNotFoundException => "no such file",
        UnauthorizedAccessException => "permission denied",
        _ => ex.Message,
    };
}

/// <summary>
/// A password file that cannot be read (checked at start, so seen later only when a mounted secret is missing
/// mid-rotation). An <see cref="IOException"/>, so a source that reconnects on I/O errors tries again.
/// </summary>
internal sealed class SecretFileException(string message) : IOException(message);
