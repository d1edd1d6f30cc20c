using Microsoft.AspNetCore.Http;

namespace Invalidator.Worker.Http;

/// <summary>The status page at <c>/</c>: one embedded HTML file that polls <c>/status.json</c> every 2 s.</summary>
internal static class StatusPage
{
    private const string ResourceName = "Invalidator.Worker.Http.StatusPage.html";

    // The policy proves the page needs nothing from elsewhere: a CDN reference would simply not load.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

    private static readonly Lazy<byte[]> Html = new(() =>
    {
        using var stream = typeof(StatusPage).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"Embedded resource {ResourceName} is missing from the build.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    public static Task WriteAsync(HttpContext context)
    {
        var response = context.Response;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.CacheControl = "no-cache";
        return response.Body.WriteAsync(Html.Value, context.RequestAborted).AsTask();
    }
}
