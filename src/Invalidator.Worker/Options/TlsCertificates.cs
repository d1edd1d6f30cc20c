using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Invalidator.Worker.Options;

/// <summary>A configured CA file: the PEM certificates in it, or a fix-it message naming the key that gave the path.</summary>
internal static class TlsCertificates
{
    /// <summary>The certificates, or null with the message in <paramref name="error"/>.</summary>
    public static X509Certificate2Collection? TryLoadCa(string path, string key, out string? error)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            error = $"{key} names {path}, which cannot be read ({(ex is FileNotFoundException or DirectoryNotFoundException ? "no such file" : ex.Message)}): " +
                "mount the CA certificate there (PEM) and let the worker's user read it, or correct the path.";
            return null;
        }
        catch (CryptographicException ex)
        {
            error = $"{key} names {path}, which is not a PEM certificate file ({ex.Message}): give the CA certificate(s) as PEM (-----BEGIN CERTIFICATE-----).";
            return null;
        }

        if (certificates.Count == 0)
        {
            error = $"{key} names {path}, which holds no certificate: give the CA certificate(s) as PEM (-----BEGIN CERTIFICATE-----).";
            return null;
        }

        error = null;
        return certificates;
    }

    /// <summary>The certificates; throws <see cref="SecretFileException"/> (an <see cref="IOException"/>) with the fix-it message.</summary>
    public static X509Certificate2Collection LoadCa(string path, string key) =>
        TryLoadCa(path, key, out var error) ?? throw new SecretFileException(error!);
}
