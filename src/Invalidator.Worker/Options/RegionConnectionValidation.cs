using StackExchange.Redis;

namespace Invalidator.Worker.Options;

/// <summary>
/// A region's credentials (<c>User</c>, <c>Password</c>, <c>PasswordFile</c>): one password source at a time, a
/// readable file, and no second copy inside the <c>Redis</c> string; its <c>TlsCaFile</c>: certificates, and TLS on.
/// Messages never show a password.
/// </summary>
internal static class RegionConnectionValidation
{
    /// <summary>What is wrong with the region's credentials and TLS settings, each with its fix.</summary>
    public static void Validate(string name, RegionOptions region, ConfigurationOptions parsed, List<string> failures)
    {
        var path = $"Invalidator:Regions:{name}";
        var hasPassword = !string.IsNullOrEmpty(region.Password);
        var hasPasswordFile = !string.IsNullOrEmpty(region.PasswordFile);
        if (hasPassword && hasPasswordFile)
        {
            failures.Add($"{path}:Password and {path}:PasswordFile are both set: keep one (PasswordFile for a mounted secret).");
        }
        else if (hasPasswordFile)
        {
            _ = SecretFile.TryRead(region.PasswordFile!, $"{path}:PasswordFile", out var error);
            if (error is not null)
            {
                failures.Add(error);
            }
        }

        // Two places for one credential: which one wins would be a guess, and the one not used would go unnoticed.
        if ((hasPassword || hasPasswordFile) && parsed.Password is not null)
        {
            failures.Add($"{path}:Redis has a password= and {path}:{(hasPassword ? "Password" : "PasswordFile")} is set too: " +
                $"remove password= from {path}:Redis (a comma in it would split the string anyway).");
        }

        if (!string.IsNullOrEmpty(region.User) && parsed.User is not null)
        {
            failures.Add($"{path}:Redis has a user= and {path}:User is set too: remove user= from {path}:Redis.");
        }

        if (!string.IsNullOrEmpty(region.TlsCaFile))
        {
            _ = TlsCertificates.TryLoadCa(region.TlsCaFile, $"{path}:TlsCaFile", out var error);
            if (error is not null)
            {
                failures.Add(error);
            }

            if (!parsed.Ssl)
            {
                failures.Add($"{path}:TlsCaFile is set but {path}:Redis does not turn TLS on: add ssl=true to it (and the server's TLS port).");
            }
        }
    }
}
