using Microsoft.Net.Http.Headers;

namespace StoreLink.Server.Http;

/// <summary>
/// Headers every answer needs whatever wrote it (an endpoint, the error handler, a 404 of an unknown route): JSON is
/// never sniffed as something else (<c>X-Content-Type-Options: nosniff</c>), and nothing under <c>/v1</c> — tokens,
/// customers, messages, attachments — is kept by a browser or a proxy (<c>Cache-Control: no-store</c>). Set just
/// before the headers go out, so they hold over anything a handler set. Console and widget assets keep their caching.
/// </summary>
internal static class SecurityHeaders
{
    public static Task ApplyAsync(HttpContext context, RequestDelegate next)
    {
        context.Response.OnStarting(static state =>
        {
            var http = (HttpContext)state;
            var headers = http.Response.Headers;
            var api = http.Request.Path.StartsWithSegments("/v1");
            if (api || IsJson(http.Response.ContentType))
                headers.XContentTypeOptions = "nosniff";
            if (api)
            {
                headers.CacheControl = "no-store";
                headers.Remove(HeaderNames.Expires);
                headers.Remove(HeaderNames.ETag);
            }
            return Task.CompletedTask;
        }, context);
        return next(context);
    }

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media) &&
        (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));
}
