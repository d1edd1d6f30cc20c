using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Invalidator.Worker.Options;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions;

/// <summary>
/// The StackExchange.Redis configuration of a region: its <c>Redis</c> string plus the credentials given as options
/// of their own (<c>User</c>, <c>Password</c> or <c>PasswordFile</c>) and the CA to trust (<c>TlsCaFile</c>). Set on the parsed options, a password is
/// never split at its commas the way a <c>password=</c> inside the configuration string is. Every connection to a
/// region (the worker's, <c>audit</c>'s) is made from this, and the options validator checks it first.
/// </summary>
internal static class RegionRedisConfiguration
{
    /// <summary>The configuration to connect with; throws <see cref="SecretFileException"/> (with the fix) when the password file cannot be read.</summary>
    /// <param name="name">The region's name.</param>
    /// <param name="region">Its options.</param>
    /// <param name="certificateRejected">Told why a server certificate was refused (a <c>TlsCaFile</c> region), to log it.</param>
    public static ConfigurationOptions Create(string name, RegionOptions region, Action<string>? certificateRejected = null)
    {
        var options = ConfigurationOptions.Parse(region.Redis);
        if (!string.IsNullOrEmpty(region.User))
        {
            options.User = region.User;
        }

        if (!string.IsNullOrEmpty(region.PasswordFile))
        {
            options.Password = SecretFile.Read(region.PasswordFile, $"Invalidator:Regions:{name}:PasswordFile");
        }
        else if (!string.IsNullOrEmpty(region.Password))
        {
            options.Password = region.Password;
        }

        if (!string.IsNullOrEmpty(region.TlsCaFile))
        {
            var roots = TlsCertificates.LoadCa(region.TlsCaFile, $"Invalidator:Regions:{name}:TlsCaFile");
            options.CertificateValidation += TrustOnly(roots, region.TlsCaFile, certificateRejected);
        }

        return options;
    }

    /// <summary>
    /// Accepts a server certificate only when it chains to one of <paramref name="roots"/> (the system's CAs do not
    /// count) and names the host, as <c>sslmode=verify-full</c> does for Postgres. No revocation check: a private CA
    /// rarely publishes one.
    /// </summary>
    internal static RemoteCertificateValidationCallback TrustOnly(X509Certificate2Collection roots, string caFile, Action<string>? rejected) =>
        (_, certificate, chain, errors) =>
        {
            if (certificate is null)
            {
                rejected?.Invoke("the server sent no certificate");
                return false;
            }

            if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            {
                rejected?.Invoke($"its certificate ({certificate.Subject}) does not name the host connected to: connect by a name the certificate holds, or set sslHost= in :Redis");
                return false;
            }

            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(roots);
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (chain is not null)
            {
                // The intermediates the server sent: they may link the certificate to the CA.
                custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
                foreach (var element in chain.ChainElements)
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            var leaf = certificate as X509Certificate2;
            using var loaded = leaf is null ? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()) : null;
            leaf ??= loaded!;
            if (custom.Build(leaf))
            {
                return true;
            }

            rejected?.Invoke($"its certificate ({leaf.Subject}, issued by {leaf.Issuer}) does not chain to a CA in {caFile} " +
                $"({string.Join(", ", custom.ChainStatus.Select(s => s.Status).Distinct())})");
            return false;
        };
}
