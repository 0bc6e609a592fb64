using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.AspNetCore.RateLimiting;
using StoreLink.Server.Accounts;

namespace StoreLink.Server.Web.Console;

/// <summary>
/// The staff console: Razor Pages under <c>/console</c>, their ES modules, CSS and strings (<c>Web/Console/assets</c>,
/// embedded, served from <c>/console/assets</c> by <see cref="EmbeddedAssets"/>), and the cookie session that signs staff in.
/// </summary>
public static class ConsoleSetup
{
    public const string Policy = "console";
    public const string AssetsPath = "/console/assets";

    public static WebApplicationBuilder AddConsole(this WebApplicationBuilder builder)
    {
        builder.Services.AddRazorPages(o =>
        {
            // Pages live in their feature folders under Web/ (Web/Console/*.cshtml), not in a Pages/ folder.
            o.RootDirectory = "/Web";
            o.Conventions.AuthorizeFolder("/Console", Policy);
            o.Conventions.AllowAnonymousToPage("/Console/Login");
            o.Conventions.AddPageApplicationModelConvention("/Console/Login",
                m => m.EndpointMetadata.Add(new EnableRateLimitingAttribute(AuthApi.RateLimitPolicy)));
        });
        builder.Services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, ConsoleSessionHandler>(ConsoleSessionHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder().AddPolicy(Policy, p => p
            .AddAuthenticationSchemes(ConsoleSessionHandler.SchemeName)
            .RequireAuthenticatedUser());
        builder.Services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "storelink_console_af";
            o.Cookie.Path = "/console";
        });
        // Chinese text in pages as characters, not &#x…; entities (Razor's default encoder allows only Basic Latin).
        builder.Services.Configure<Microsoft.Extensions.WebEncoders.WebEncoderOptions>(o =>
            o.TextEncoderSettings = new System.Text.Encodings.Web.TextEncoderSettings(System.Text.Unicode.UnicodeRanges.All));
        builder.Services.AddSingleton<ConsoleStrings>();
        return builder;
    }

    public static WebApplication MapConsole(this WebApplication app)
    {
        app.MapAssets(AssetsPath, Assets);
        app.MapRazorPages();
        return app;
    }

    /// <summary>The embedded <c>Web/Console/assets</c> folder (also read by <see cref="ConsoleStrings"/>).</summary>
    public static EmbeddedAssets Assets { get; } = new("console");
}
