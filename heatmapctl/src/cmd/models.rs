//! `heatmapctl models`: the models a server offers.

use heatmap_proto::{BackendKind, ModelInfo, Request, Response};

use crate::client::{self, Transport};
use crate::output::Output;
use crate::render;

/// Asks heatmapd for the models of the server at `url`.
pub async fn run<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    backend: BackendKind,
    url: String,
) -> anyhow::Result<()> {
    let shown_url = url.clone();
    let response = client::call(connection, output, Request::Models { backend, url }).await?;
    let Response::Models(models) = &response else {
        return Err(client::unexpected("Models", &response));
    };
    if output.json {
        return Ok(());
    }
    if models.is_empty() {
        return output.line(format!("{shown_url} ({backend}) offers no models"));
    }
    output.line(models_table(models))
}

/// Renders models as a table of name, size, family and quantization.
pub fn models_table(models: &[ModelInfo]) -> String {
    let mut table = render::table(&["NAME", "SIZE", "FAMILY", "QUANTIZATION"]);
    for model in models {
        table.add_row(vec![
            model.name.clone(),
            render::size(model.size),
            model.family.clone().unwrap_or_else(|| "-".to_string()),
            model
                .quantization
                .clone()
                .unwrap_or_else(|| "-".to_string()),
        ]);
    }
    render::align_right(&mut table, &[1]);
    render::to_text(&table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_with_unknown_fields() {
        let models = vec![
            ModelInfo {
                name: "llama3.2:1b".into(),
                size: Some(1_321_098_329),
                family: Some("llama".into()),
                quantization: Some("Q8_0".into()),
            },
            ModelInfo {
                name: "tiny".into(),
                size: None,
                family: None,
                quantization: None,
            },
        ];
        let text = models_table(&models);
        let expected = "\
NAME             SIZE  FAMILY  QUANTIZATION
llama3.2:1b  1.23 GiB  llama   Q8_0
tiny                -  -       -";
        assert_eq!(text, expected);
    }
}
