using Microsoft.Extensions.Options;
using System.Net;
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
    private static readonly EmbeddedAssets Assets = new("widget");
    // The chat page's template lies beside the assets, not among them: it is served filled in, never as it is.
    private static readonly EmbeddedAssets Page = new("widget-page");

    public static void MapWidget(this IEndpointRouteBuilder app)
    {
        // Host pages on any origin load the script and import its strings module, so these are CORS-open (public files).
        app.MapGet("/widget.js", (HttpContext http) => Assets.Serve(http, "loader.js")).ExcludeFromDescription();
        app.MapAssets("/widget", Assets);
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

    private static async Task<IResult> ChatPageAsync(string storeKey, HttpContext http, Access access, IOptions<Calls.CallsOptions> calls, CancellationToken ct)
    {
        var store = await access.StoreByKeyAsync(storeKey, ct);
        var template = System.Text.Encoding.UTF8.GetString(Page.Bytes("chat.html"));
        var html = template.Replace("{{store_key}}", WebUtility.HtmlEncode(store.StoreKey), StringComparison.Ordinal)
            .Replace("{{store_name}}", WebUtility.HtmlEncode(store.Name), StringComparison.Ordinal);
        var host = http.Request.Host.Value;
        // The page may be framed by any site (that is the widget); it talks only to this server, and to Janus in a call.
        http.Response.Headers.ContentSecurityPolicy =
            $"default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; " +
            $"connect-src 'self' ws://{host} wss://{host}{calls.Value.Janus.ConnectSource}; frame-ancestors *; base-uri 'none'; form-action 'none'";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["Referrer-Policy"] = "no-referrer";
        return TypedResults.Content(html, "text/html; charset=utf-8");
    }
}
