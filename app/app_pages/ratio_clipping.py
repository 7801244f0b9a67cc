import streamlit as st

st.title("ratio_clipping")
st.info("This page is being built.")
