using System.Collections.Frozen;
using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Desk;

namespace StoreLink.Server.Web.Widget;

/// <summary>
/// A store's public face for the widget: name, hours in its time zone, open now, the next opening, and the server's
/// time (the widget words "today"/"tomorrow" against it, not against the device's clock), and the work items its
/// customers may start (the widget's 报修 entry).
/// </summary>
public sealed record StoreProfileDto(string Id, string StoreKey, string Name, string TimeZone,
    IReadOnlyDictionary<string, IReadOnlyList<HoursRange>> BusinessHours, bool OpenNow, DateTimeOffset? OpensAt, DateTimeOffset Now,
    IReadOnlyList<string> CustomerWorkKinds);

/// <summary>
/// The customer widget: <c>/widget.js</c> (the one script tag a host page embeds), the standalone page
/// <c>/chat/{store_key}</c> (also what the script puts in its iframe), the ES modules and styles under <c>/widget/</c>,
/// and the public store profile they show. Assets are embedded in the assembly, so every deployment serves the same
/// files without a content root or a build step.
/// </summary>
public static class WidgetSetup
{
    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);

    private static readonly FrozenDictionary<string, Asset> Assets = LoadAssets();

    public static void MapWidget(this IEndpointRouteBuilder app)
    {
        // Host pages on any origin load the script and import its strings module, so these are CORS-open (public files).
        app.MapGet("/widget.js", (HttpContext http) => Serve(http, "loader.js")).ExcludeFromDescription();
        app.MapGet("/widget/{*path}", (string path, HttpContext http) => Serve(http, path)).ExcludeFromDescription();
        app.MapGet("/chat/{storeKey}", ChatPageAsync).ExcludeFromDescription();

        app.MapGet("/v1/stores/by-key/{storeKey}/profile", async (string storeKey, Access access, TimeProvider clock, CancellationToken ct) =>
        {
            var store = await access.StoreByKeyAsync(storeKey, ct);
            var hours = BusinessClock.Of(store);
            var now = clock.GetUtcNow();
            var open = !hours.HasHours || hours.IsOpen(now);
            return TypedResults.Ok(new StoreProfileDto(store.Id, store.StoreKey, store.Name, store.TimeZone, WeeklyHours.Parse(store.BusinessHours),
                open, open ? null : hours.NextOpening(now), now, store.CustomerWorkKindList));
        }).WithTags("Widget");
    }

    private static async Task<IResult> ChatPageAsync(string storeKey, HttpContext http, Access access, CancellationToken ct)
    {
        var store = await access.StoreByKeyAsync(storeKey, ct);
        var template = System.Text.Encoding.UTF8.GetString(Assets["chat.html"].Bytes);
        var html = template.Replace("{{store_key}}", WebUtility.HtmlEncode(store.StoreKey), StringComparison.Ordinal)
            .Replace("{{store_name}}", WebUtility.HtmlEncode(store.Name), StringComparison.Ordinal);
        var host = http.Request.Host.Value;
        // The page may be framed by any site (that is the widget); it talks only to this server.
        http.Response.Headers.ContentSecurityPolicy =
            $"default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; " +
            $"connect-src 'self' ws://{host} wss://{host}; frame-ancestors *; base-uri 'none'; form-action 'none'";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["Referrer-Policy"] = "no-referrer";
        return TypedResults.Content(html, "text/html; charset=utf-8");
    }

    private static IResult Serve(HttpContext http, string path)
    {
        if (!Assets.TryGetValue(path, out var asset) || path == "chat.html")
            return TypedResults.NotFound();
        http.Response.Headers.AccessControlAllowOrigin = "*";
        http.Response.Headers.XContentTypeOptions = "nosniff";
        // Revalidated on every load (cheap with the ETag) so a new server version reaches every host page at once.
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers.ETag = asset.ETag;
        if (http.Request.Headers.IfNoneMatch == asset.ETag)
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        return TypedResults.Bytes(asset.Bytes, asset.ContentType);
    }

    private static FrozenDictionary<string, Asset> LoadAssets()
    {
        var assembly = Assembly.GetExecutingAssembly();
        const string prefix = "widget/";
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var bytes = buffer.ToArray();
            var path = name[prefix.Length..].Replace('\\', '/');
            var type = Path.GetExtension(path) switch
            {
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".html" => "text/html; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            assets[path] = new Asset(bytes, type, $"\"{Convert.ToHexString(SHA256.HashData(bytes))[..16]}\"");
        }
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
